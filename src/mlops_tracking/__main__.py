from mlops_tracking.cli.app import main

main()
