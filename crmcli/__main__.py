from crmcli.cli import main

main()
