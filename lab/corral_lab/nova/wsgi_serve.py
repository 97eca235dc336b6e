"""A threaded WSGI server for Keystone and Placement in the Nova lab (no Apache, no uWSGI).

Run by Debian's /usr/bin/python3 as a script (it imports only the standard library and the
application's module):  wsgi_serve.py ADDRESS PORT module:factory
"""
import importlib
import socketserver
import sys
import wsgiref.simple_server as wss


class ThreadingServer(socketserver.ThreadingMixIn, wss.WSGIServer):
    daemon_threads = True


class QuietHandler(wss.WSGIRequestHandler):
    def log_message(self, *args: object) -> None:  # the services log themselves
        pass


def main() -> None:
    addr, port, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    module, factory = target.split(":")
    sys.argv = sys.argv[:1]  # the factories parse sys.argv with oslo.config
    app = getattr(importlib.import_module(module), factory)()
    wss.make_server(addr, port, app, server_class=ThreadingServer, handler_class=QuietHandler).serve_forever()


if __name__ == "__main__":
    main()
