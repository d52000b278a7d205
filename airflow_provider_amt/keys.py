"""Names under which the provider stores things in Airflow (XCom, task state store).

They are read back by other processes (a retry, the triggerer, the log handler in the
api-server), so renaming one breaks tasks in flight: change them only with a migration note.
"""

#: XCom: the BatchRequestId, pushed as soon as AMT accepted the Start.
XCOM_BATCH_REQUEST_ID = "batch_request_id"
#: XCom, tasks with alternate servers: the connection whose server accepted the Start (and has the job).
XCOM_CONN_ID = "amt_conn_id"
#: XCom: where a person sees the job (the connection's ``job_url_template`` filled in), pushed with the id.
XCOM_JOB_URL = "job_url"
#: XCom of Airflow's own: what the "AMT job" link shows (``BaseOperatorLink.xcom_key`` of ``AmtJobLink``);
#: Airflow writes it after a try on a worker, the start trigger writes it itself.
XCOM_JOB_LINK = "_link_AmtJobLink"
#: XCom: the trigger's message cursor ``{"batch_request_id": n, "offset": m}``.
XCOM_MESSAGE_CURSOR = "amt_message_cursor"
#: XCom, tasks started from the triggerer: ``{"task_id": GUID, "try_number": n, "batch_request_id": id or
#: None}``, written before the Start is sent and completed after it (see ``triggers/start.py``).
XCOM_START = "amt_start"
#: task_state_store (Airflow 3.3+): ``{"task_id": GUID, "batch_request_id": id or None}``, written
#: before the Start is sent and completed after it (see ``start_ledger.py``).
STATE_START = "amt_start"
#: task_state_store, provider 0.1.0: the BatchRequestId alone (still read, for tasks in flight).
STATE_BATCH_REQUEST_ID = "amt_batch_request_id"
#: XCom: the batch request this try's Start resumes (``recover_on_retry``), pushed when it is sent.
XCOM_RECOVERY_OF = "amt_recovery_of"
