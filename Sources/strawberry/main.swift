print("strawberry")
