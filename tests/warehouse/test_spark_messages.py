"""What a Spark Connect failure tells the user: the server's status and details, never a token.

The gRPC text below is the one pyspark 4.3 raised against a local Connect server that wanted a token
(2026-12-02); its first line alone said nothing."""

from __future__ import annotations

from finmatch_agents.warehouse.spark import _message, shown_master

GRPC_TEXT = """<_MultiThreadedRendezvous of RPC that terminated with:
\tstatus = StatusCode.UNAUTHENTICATED
\tdetails = "No authentication token provided"
\tdebug_error_string = "UNAUTHENTICATED:No authentication token provided"
>"""


def test_a_spark_connect_failure_keeps_the_status_and_the_server_details() -> None:
    assert _message(RuntimeError(GRPC_TEXT)) == "UNAUTHENTICATED: No authentication token provided"


def test_other_spark_errors_keep_their_first_line_without_the_java_stack() -> None:
    text = "[TABLE_OR_VIEW_NOT_FOUND] The table `nope` cannot be found.\n\tat org.apache.spark.Foo"
    assert _message(RuntimeError(text)) == "[TABLE_OR_VIEW_NOT_FOUND] The table `nope` cannot be found."


def test_a_token_in_a_spark_connect_url_is_never_shown() -> None:
    shown = shown_master("sc://spark.bank.internal:15002/;user_id=ana;token=s3cr3t-value;use_ssl=true")
    assert "s3cr3t" not in shown
    assert shown == "sc://spark.bank.internal:15002/;user_id=ana;token=***;use_ssl=true"
    assert shown_master("sc://host:15002") == "sc://host:15002"
    assert shown_master("local[2]") == "local[2]"
