"""Built-in methods, one file each. Importing this package registers them."""
