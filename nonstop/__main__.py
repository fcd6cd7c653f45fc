from nonstop.cli import main

main()
