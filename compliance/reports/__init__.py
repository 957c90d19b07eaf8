"""One module per report kind; each defines ``KIND: ReportKind`` (compliance.content)."""
