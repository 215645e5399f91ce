from mlops_tracking.cli import main

main()
