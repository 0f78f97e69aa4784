import sys

from airflow_provider_s3xacct.cli import main

sys.exit(main())
