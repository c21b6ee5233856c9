from lakestory.cli.app import main

main()
