"""The membership a restore bootstraps, from etcdctl's flags, with etcdctl's checks and messages.

Ids are raftkv's (raftkv.server.config.member_id / cluster_id over the URLs and the token), so a
member restored here and then started with the same flags is the member `raftkv serve` expects.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from raftkv.server.config import cluster_id, member_id
from raftkv.server.membership import Member, Membership

SCHEMES = ("http", "https", "unix", "unixs")


class FlagError(Exception):
    """A flag etcdctl would refuse (message as etcdctl prints it after "Error: ")."""


def _go_quoted_list(urls: list[str]) -> str:
    return "[" + " ".join(f'"{u}"' for u in urls) + "]"


def parse_urls(value: str) -> list[str]:
    urls = [u.strip() for u in value.split(",") if u.strip()]
    for u in urls:
        if urlsplit(u).scheme not in SCHEMES:
            raise FlagError(f"URL scheme must be http, https, unix, or unixs: {u}")
    return urls


def parse_initial_cluster(value: str) -> dict[str, list[str]]:
    members: dict[str, list[str]] = {}
    for item in (s.strip() for s in value.split(",")):
        if not item:
            continue
        name, sep, url = item.partition("=")
        if not sep:
            raise FlagError(f"missing '=' in {item!r}")  # never reached with etcdctl's own parser
        members.setdefault(name, []).extend(parse_urls(url))
    return members


def plan(name: str, initial_cluster: str, advertise_peer_urls: str, token: str) -> tuple[Membership, int]:
    """(the membership, this member's id) for a restore of member `name`."""
    members = parse_initial_cluster(initial_cluster)
    advertised = parse_urls(advertise_peer_urls)
    if name not in members:
        raise FlagError(f'couldn\'t find local name "{name}" in the initial cluster configuration')
    mine = sorted(members[name])
    adv = sorted(advertised)
    if len(mine) != len(adv):
        extra = next((u for u in mine if u not in adv), mine[-1])
        raise FlagError(f"--initial-cluster has {name}={extra} but missing from --initial-advertise-peer-urls="
                        f"{','.join(advertised)} (len({_go_quoted_list(adv)}) != len({_go_quoted_list(mine)}))")
    for a, m in zip(adv, mine, strict=True):
        if a != m:
            raise FlagError(f"--initial-cluster has {name}={m} but missing from --initial-advertise-peer-urls="
                            f'{",".join(advertised)} (resolved urls: "{a}" != "{m}")')
    ids = {n: member_id(urls, token) for n, urls in members.items()}
    ms = Membership(cluster_id=cluster_id(list(ids.values()), token))
    for n, urls in members.items():
        ms.add(Member(ids[n], n, list(urls), [], False))
    return ms, ids[name]
