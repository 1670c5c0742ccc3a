from kaimen.cli.main import main

main()
