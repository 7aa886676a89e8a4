{
  "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
  "verificationMaterial": {
    "publicKey": {
      "hint": "37d3b5eb64117934d5e5faaf7ee1cdb1f107aa81c7fb51e7640fa2a74c636108"
    },
    "tlogEntries": []
  },
  "dsseEnvelope": {
    "payload": "ewogICJfdHlwZSI6ICJodHRwczovL2luLXRvdG8uaW8vU3RhdGVtZW50L3YxIiwKICAicHJlZGljYXRlIjogewogICAgInJlc291cmNlcyI6IFsKICAgICAgewogICAgICAgICJhbGdvcml0aG0iOiAic2hhMjU2IiwKICAgICAgICAiZGlnZXN0IjogImQ2NzdiNjE5MTk4OTkzMjAxMjFkMmM2NGRmYTQ2MjlmODNhZDcxMTY2MmNiYjZmYjNhOGQxM2E1YWYwMDdiMzEiLAogICAgICAgICJuYW1lIjogIm1vZGVsLmpzb24iCiAgICAgIH0sCiAgICAgIHsKICAgICAgICAiYWxnb3JpdGhtIjogInNoYTI1NiIsCiAgICAgICAgImRpZ2VzdCI6ICI5MWU0ZmVhNGIxNjUwZTcwZTkzMDRmODY4NzQ5MDYyM2YzYzcyZGIxOGQ3ZDdjMWU4MDk4Zjc2NWNmNmNiZjRjIiwKICAgICAgICAibmFtZSI6ICJ3ZWlnaHRzLmJpbiIKICAgICAgfQogICAgXSwKICAgICJzZXJpYWxpemF0aW9uIjogewogICAgICAiYWxsb3dfc3ltbGlua3MiOiBmYWxzZSwKICAgICAgImhhc2hfdHlwZSI6ICJzaGEyNTYiLAogICAgICAiaWdub3JlX3BhdGhzIjogWwogICAgICAgICIuZ2l0IiwKICAgICAgICAiLmdpdGF0dHJpYnV0ZXMiLAogICAgICAgICIuZ2l0aHViIiwKICAgICAgICAiLmdpdGlnbm9yZSIsCiAgICAgICAgIm1vZGVsLnNpZyIKICAgICAgXSwKICAgICAgIm1ldGhvZCI6ICJmaWxlcyIKICAgIH0KICB9LAogICJwcmVkaWNhdGVUeXBlIjogImh0dHBzOi8vbW9kZWxfc2lnbmluZy9zaWduYXR1cmUvdjEuMCIsCiAgInN1YmplY3QiOiBbCiAgICB7CiAgICAgICJkaWdlc3QiOiB7CiAgICAgICAgInNoYTI1NiI6ICIzZWQ3NWY0Y2Y2OTRiN2EwNzQzZmU5Nzk2YjFmNTEzOTU0NjVmMDJiZTU4NjU0NzYzYTRkYWJlZDQ1ODYzNzk5IgogICAgICB9LAogICAgICAibmFtZSI6ICJjcmVkaXQtc2NvcmVyIgogICAgfQogIF0KfQ==",
    "payloadType": "application/vnd.in-toto+json",
    "signatures": [
      {
        "sig": "MEUCIQCTpV2tVUMUBiUMuYyJefXab/KKTr7JI/MN9GN8c2xl2gIgW5TGrkcOaoiDwAZlAz0KtWYeaehAfqiKPwSAKgEPz+k=",
        "keyid": ""
      }
    ]
  }
}
