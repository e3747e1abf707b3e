"""Reading results: statistics, the report, the pull-request gate."""
