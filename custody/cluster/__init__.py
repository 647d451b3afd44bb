"""Several custody nodes on one database: who they are, how they reach each other's
brokers (mutual TLS from a node CA of their own), and what happens when one dies."""
