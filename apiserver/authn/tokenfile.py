"""Static bearer tokens from --token-auth-file: CSV lines ``token,user,uid[,"group1,group2"]``."""

from __future__ import annotations

import csv
import hmac
import io

from apiserver.authn.types import AuthRequest, BearerToken, Result, UserInfo

MAX_TOKEN_FILE_LINES = 100_000


class TokenFileError(ValueError):
    """The token file is malformed; the message names the line, never the token."""


def parse_token_file(text: str) -> dict[str, UserInfo]:
    """Parses the CSV. Like kube-apiserver: blank lines and lines starting with '#' are skipped, fewer than three
    columns is an error, a repeated token keeps the later line."""
    tokens: dict[str, UserInfo] = {}
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if lineno > MAX_TOKEN_FILE_LINES:
            raise TokenFileError(f"token file has more than {MAX_TOKEN_FILE_LINES} lines")
        if not row or (len(row) == 1 and not row[0].strip()) or row[0].lstrip().startswith("#"):
            continue
        if len(row) < 3:
            raise TokenFileError(f"token file is invalid on line {lineno}: need at least 3 columns, got {len(row)}")
        token, name, uid = row[0].strip(), row[1].strip(), row[2].strip()
        if not token:
            raise TokenFileError(f"token file is invalid on line {lineno}: empty token")
        groups: tuple[str, ...] = ()
        if len(row) >= 4 and row[3].strip():
            groups = tuple(g.strip() for g in row[3].split(",") if g.strip())
        tokens[token] = UserInfo(name, uid, groups)
    return tokens


class TokenFileAuthenticator:
    """Token → user, compared in constant time so response timing does not leak token prefixes."""

    def __init__(self, tokens: dict[str, UserInfo]) -> None:
        self.tokens = dict(tokens)
        self._bearer = BearerToken(self)

    @classmethod
    def from_csv(cls, text: str) -> TokenFileAuthenticator:
        return cls(parse_token_file(text))

    def authenticate_token(self, token: str, now: float) -> Result:
        found: UserInfo | None = None
        for known, user in self.tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = user
        if found is None:
            return None, False, None
        return found, True, None

    def authenticate(self, request: AuthRequest, now: float) -> Result:
        return self._bearer.authenticate(request, now)
