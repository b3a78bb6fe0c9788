import StrawberryCLI

Strawberry.main()
