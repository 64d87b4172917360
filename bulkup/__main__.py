from bulkup.cli.main import run

run()
