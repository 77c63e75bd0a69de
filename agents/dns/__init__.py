"""raftkv-dns: cluster DNS as CoreDNS's kubernetes plugin answers it (see agents/dns/README.md)."""
