"""The articles an ML deployment is expected to answer to: the reference list for gaps.

An article the catalogue does not cite is a gap the report lists, so an auditor sees what is
not enforced at admission (and must be covered by process) as well as what is."""

from __future__ import annotations

# (regulation, article number, short title): provider/deployer obligations that bear on a
# model in service. Not every article of either act: only those a control could check.
REFERENCE_ARTICLES: tuple[tuple[str, str, str], ...] = (
    ("EU AI Act", "4", "AI literacy"),
    ("EU AI Act", "5", "Prohibited AI practices"),
    ("EU AI Act", "6", "Classification of high-risk AI systems"),
    ("EU AI Act", "9", "Risk management system"),
    ("EU AI Act", "10", "Data and data governance"),
    ("EU AI Act", "11", "Technical documentation"),
    ("EU AI Act", "12", "Record-keeping (logging)"),
    ("EU AI Act", "13", "Transparency and instructions for use"),
    ("EU AI Act", "14", "Human oversight"),
    ("EU AI Act", "15", "Accuracy, robustness and cybersecurity"),
    ("EU AI Act", "16", "Obligations of providers of high-risk AI systems"),
    ("EU AI Act", "17", "Quality management system"),
    ("EU AI Act", "18", "Documentation keeping"),
    ("EU AI Act", "19", "Automatically generated logs"),
    ("EU AI Act", "20", "Corrective actions and duty of information"),
    ("EU AI Act", "26", "Obligations of deployers of high-risk AI systems"),
    ("EU AI Act", "27", "Fundamental rights impact assessment"),
    ("EU AI Act", "43", "Conformity assessment"),
    ("EU AI Act", "47", "EU declaration of conformity"),
    ("EU AI Act", "49", "Registration"),
    ("EU AI Act", "50", "Transparency obligations for certain AI systems"),
    ("EU AI Act", "53", "Obligations of providers of general-purpose AI models"),
    ("EU AI Act", "72", "Post-market monitoring"),
    ("EU AI Act", "73", "Reporting of serious incidents"),
    ("EU AI Act", "86", "Right to explanation of individual decision-making"),
    ("GDPR", "5", "Principles relating to processing of personal data"),
    ("GDPR", "6", "Lawfulness of processing"),
    ("GDPR", "9", "Special categories of personal data"),
    ("GDPR", "13", "Information to be provided to the data subject"),
    ("GDPR", "15", "Right of access by the data subject"),
    ("GDPR", "17", "Right to erasure"),
    ("GDPR", "21", "Right to object"),
    ("GDPR", "22", "Automated individual decision-making"),
    ("GDPR", "25", "Data protection by design and by default"),
    ("GDPR", "28", "Processor"),
    ("GDPR", "30", "Records of processing activities"),
    ("GDPR", "32", "Security of processing"),
    ("GDPR", "33", "Notification of a personal data breach"),
    ("GDPR", "35", "Data protection impact assessment"),
    ("GDPR", "44", "General principle for transfers"),
    ("GDPR", "45", "Transfers on the basis of an adequacy decision"),
    ("GDPR", "46", "Transfers subject to appropriate safeguards"),
    ("GDPR", "49", "Derogations for specific situations"),
)
