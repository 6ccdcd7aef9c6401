print("squint: placeholder")
