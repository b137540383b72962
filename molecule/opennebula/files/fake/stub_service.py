"""Test stand-in for FireEdge, OneGate and OneFlow: an HTTP server on the service's port.

Usage: python3 stub_service.py NAME ADDRESS PORT (started by the package's systemd unit).
"""

import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "NebulaVoIP-test-stub"

    def do_GET(self):
        body = ("%s test stand-in\n" % self.server.service_name).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    name, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    server = http.server.HTTPServer((address, port), Handler)
    server.service_name = name
    server.serve_forever()


if __name__ == "__main__":
    main()
