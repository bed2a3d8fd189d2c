"""The deployment's Prometheus and Alertmanager, read by the GraphQL gateway: HTTPS
verified against the cluster CA, with the monitoring web user."""

import json
import ssl
import urllib.parse
import urllib.request
from base64 import b64encode


class NotConfigured(RuntimeError):
    pass


class MonitoringClient:
    def __init__(self, config):
        self.prometheus_url = config.get("PROMETHEUS_URL")
        self.alertmanager_url = config.get("ALERTMANAGER_URL")
        user, password = config.get("MONITORING_USER"), config.get("MONITORING_PASSWORD")
        self.auth = f"Basic {b64encode(f'{user}:{password}'.encode()).decode()}" if password else None
        self.context = ssl.create_default_context(cafile=config.get("MONITORING_CA_FILE"))
        self.timeout = config.get("MONITORING_TIMEOUT", 2.0)

    def _get(self, base, path, params):
        if not base:
            raise NotConfigured(f"no monitoring URL configured for {path}")
        url = f"{base.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, headers={"Authorization": self.auth} if self.auth else {})
        with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as response:
            return json.load(response)

    def query(self, expr):
        """An instant query's vector as [(labels, value)]."""
        data = self._get(self.prometheus_url, "/api/v1/query", {"query": expr})["data"]["result"]
        return [(r["metric"], float(r["value"][1])) for r in data]

    def alerts(self):
        """Alertmanager's active alerts (not silenced or inhibited), oldest first."""
        params = {"active": "true", "silenced": "false", "inhibited": "false"}
        found = self._get(self.alertmanager_url, "/api/v2/alerts", params)
        return sorted(
            (
                {
                    "name": a["labels"].get("alertname", ""),
                    "severity": a["labels"].get("severity"),
                    "instance": a["labels"].get("instance"),
                    "summary": a.get("annotations", {}).get("summary"),
                    "starts_at": a.get("startsAt"),
                }
                for a in found
            ),
            key=lambda a: (a["starts_at"] or "", a["name"]),
        )
