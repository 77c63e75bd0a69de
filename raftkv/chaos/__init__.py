"""Fault injection for raftkv: pure history checkers, a workload recorder and nemesis mechanisms.

A scenario is (cluster factory, nemesis schedule, workload, checkers); this package supplies the last three.
"""
