"""Tools for developers and operators that are not the product's domain: the demo shop seeder (``seed-demo``)."""
