/** Jest setup of the `database` project: live suites run with LIVE_CAPTURE=database (see testCapture()). */
process.env.LIVE_TEST_CAPTURE = 'database';
