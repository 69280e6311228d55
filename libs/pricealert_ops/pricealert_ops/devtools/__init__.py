"""Local tools for demos, chaos drills, benchmarks and tests — never used by the services.

- `shop`: a real, programmable HTTP/1.1 shop on loopback addresses;
- `receiver`: a webhook receiver that records deliveries and verifies their signatures;
- `stack`: the four services as real processes under one supervisor, and an API client.

They live in the library (not under `tests/`) because `pricealert chaos` is a
product command and the installed library must not import `tests` or `services`.
"""
