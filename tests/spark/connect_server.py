"""A local Spark Connect server for the tests: ``python connect_server.py PORT CONF_JSON``.

It starts a classic local Spark session with the Spark Connect plugin (the server jar ships in the pyspark
wheel), bound to 127.0.0.1:PORT, asking for the token in ``SPARK_CONNECT_AUTHENTICATE_TOKEN``. It prints one
line, ``ready``, once the server listens, and stops when its standard input closes (the test fixture closes it),
so the tests' client talks to a separate JVM exactly as it would to a cluster's Connect endpoint.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    port, conf = sys.argv[1], json.loads(sys.argv[2])
    if not os.environ.get("SPARK_CONNECT_AUTHENTICATE_TOKEN"):
        raise SystemExit("connect_server.py: set SPARK_CONNECT_AUTHENTICATE_TOKEN")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName("finmatch-connect-tests")
    for key, value in {**conf, "spark.plugins": "org.apache.spark.sql.connect.SparkConnectPlugin",
                       "spark.connect.grpc.binding.address": "127.0.0.1",
                       "spark.connect.grpc.binding.port": port}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    print("ready", flush=True)
    sys.stdin.read()
    session.stop()


if __name__ == "__main__":
    main()
