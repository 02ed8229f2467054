"""A `qcluster` started while its database cannot be reached (a machine booting before PostgreSQL,
a failover): it waits, one log line per try, and runs what is queued once the database answers,
instead of exiting with a traceback."""

import socket
import threading

import pytest
from django.db import connection
from django_q.conf import Conf

from tests.factories import case_fields, make_directory, make_directory_task, make_workflow, outbound_message
from tests.workers import qclusters, wait_for
from workflows.models import Run

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class Forwarder:
    """A TCP port that refuses connections until start(), then forwards them to the test database."""

    def __init__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.listener = None

    def start(self, target: tuple[str, int]) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(target,), daemon=True).start()

    def _accept(self, target):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(target)
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        if self.listener is not None:
            self.listener.close()


def test_a_worker_started_before_its_database_waits_for_it_then_runs_what_is_queued(
    postgres_only, client, tmp_path, monkeypatch
):
    monkeypatch.setattr(Conf, "SYNC", False)
    make_directory(is_default=True)
    workflow = make_workflow()
    make_directory_task(workflow=workflow, position=1)
    assert client.post(workflow.event_path, outbound_message(case_fields()), content_type="text/xml").status_code == 200
    db = connection.settings_dict
    forwarder = Forwarder()
    url = f"postgres://{db['USER']}@127.0.0.1:{forwarder.port}/{db['NAME']}"
    log = tmp_path / "qcluster-1.log"
    try:
        with qclusters(log_dir=tmp_path, env={"DATABASE_URL": url}) as start:
            process = start()
            assert wait_for(lambda: log.read_text().count("The database cannot be reached") >= 1, seconds=30)
            assert process.poll() is None, log.read_text()

            forwarder.start((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
            succeeded = wait_for(
                lambda: Run.objects.filter(status=Run.Status.SUCCEEDED).exists(), seconds=60, dispatch=True
            )
            assert succeeded, log.read_text()[-3000:]
    finally:
        forwarder.close()
    text = log.read_text()
    assert "WARNING config.database: The database cannot be reached (connection failed:" in text
    assert "Traceback" not in text, text[-3000:]
