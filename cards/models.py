"""Card products, orders, batches and cards arrive with the ordering and issuance issues."""
