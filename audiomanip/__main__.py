from audiomanip.commands.app import main

main()
