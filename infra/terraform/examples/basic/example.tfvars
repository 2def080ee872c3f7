# Values of the example; replace with your domains and zones.
allowed_domains = ["dyn.example.com", "Other.Example.org."]
hosted_zone_ids = ["Z0123456789ABCDEFGHIJ", "Z9876543210ZYXWVUTSRQ"]

# The DDNS endpoint for hosts outside AWS: ddns.tfvars.
