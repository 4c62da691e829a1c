"""Pure domain: no boto3, no pynamodb, no PIL. Talks to the world through the ports."""
