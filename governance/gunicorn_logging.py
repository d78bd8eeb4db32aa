"""gunicorn's logger with the tokens of signed links withheld (the Procfile's `web`
names it with --logger-class): its access log wrote every `GET /escalations/ack/<token>/`
and `/accounts/invite/<token>/` (or `/accounts/password/reset/<token>/`) in full, and
whoever reads the log could act for the recipient for 14 days. Every atom of the access
log format is masked (the request line, the path, the query, the Referer a page opened
from such a link sends, headers), and the error log's records too."""

from gunicorn import glogging

from cases.signed_links import MaskSignedLinkTokens, mask_tokens


class Logger(glogging.Logger):
    def setup(self, cfg):
        super().setup(cfg)
        if not any(isinstance(f, MaskSignedLinkTokens) for f in self.error_log.filters):
            self.error_log.addFilter(MaskSignedLinkTokens())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: mask_tokens(value) if isinstance(value, str) else value
            for key, value in atoms.items()
        }
