from numbaplay.cli import main

main()
