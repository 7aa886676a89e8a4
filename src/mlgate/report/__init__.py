"""What a compliance officer and an auditor read: HTML pages and SVG charts, all offline.

``html`` is the page shell (inline CSS, print styles, no external assets), ``charts`` the
generated SVG charts, ``regulations`` / ``inventory`` / ``evidence`` gather the facts, and
``compliance`` / ``impact_html`` / ``gate_html`` assemble the pages. The console renders the
same fragments."""
