{
  "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
  "verificationMaterial": {
    "publicKey": {
      "hint": "37d3b5eb64117934d5e5faaf7ee1cdb1f107aa81c7fb51e7640fa2a74c636108"
    },
    "tlogEntries": []
  },
  "dsseEnvelope": {
    "payload": "ewogICJfdHlwZSI6ICJodHRwczovL2luLXRvdG8uaW8vU3RhdGVtZW50L3YxIiwKICAicHJlZGljYXRlIjogewogICAgInJlc291cmNlcyI6IFsKICAgICAgewogICAgICAgICJhbGdvcml0aG0iOiAic2hhMjU2IiwKICAgICAgICAiZGlnZXN0IjogIjg3ZTFiNjE0MWNjMWY4OWM5OWMwZjcwZTJkNTY5YzhjZTA5YzBlMTVjN2NmMjU3Njk3MmQ1MTdlZjU4NGE2N2QiLAogICAgICAgICJuYW1lIjogIm1vZGVsLmpzb24iCiAgICAgIH0sCiAgICAgIHsKICAgICAgICAiYWxnb3JpdGhtIjogInNoYTI1NiIsCiAgICAgICAgImRpZ2VzdCI6ICI2MzBkY2QyOTY2YzQzMzY2OTExMjU0NDhiYmIyNWI0ZmY0MTJhNDljNzMyZGIyYzhhYmMxYjg1ODFiZDcxMGRkIiwKICAgICAgICAibmFtZSI6ICJ3ZWlnaHRzLmJpbiIKICAgICAgfQogICAgXSwKICAgICJzZXJpYWxpemF0aW9uIjogewogICAgICAiYWxsb3dfc3ltbGlua3MiOiBmYWxzZSwKICAgICAgImhhc2hfdHlwZSI6ICJzaGEyNTYiLAogICAgICAiaWdub3JlX3BhdGhzIjogWwogICAgICAgICIuZ2l0IiwKICAgICAgICAiLmdpdGF0dHJpYnV0ZXMiLAogICAgICAgICIuZ2l0aHViIiwKICAgICAgICAiLmdpdGlnbm9yZSIsCiAgICAgICAgIm1vZGVsLnNpZyIKICAgICAgXSwKICAgICAgIm1ldGhvZCI6ICJmaWxlcyIKICAgIH0KICB9LAogICJwcmVkaWNhdGVUeXBlIjogImh0dHBzOi8vbW9kZWxfc2lnbmluZy9zaWduYXR1cmUvdjEuMCIsCiAgInN1YmplY3QiOiBbCiAgICB7CiAgICAgICJkaWdlc3QiOiB7CiAgICAgICAgInNoYTI1NiI6ICJjYzA3YmQ0MmQ5MjA0N2IzOTFkZjE1ZTVkMzhmOWE0NjViMmQ3MWZmZmU1N2YzM2Y4OTgwNTU2YTkxZjhiZjZmIgogICAgICB9LAogICAgICAibmFtZSI6ICJmcmF1ZC1kZXRlY3RvciIKICAgIH0KICBdCn0=",
    "payloadType": "application/vnd.in-toto+json",
    "signatures": [
      {
        "sig": "MEUCIGbDR2hsgQDPn7m5mO6Rwd4w7KySuu807og6NDg1doXuAiEA5tpeVzuswW3aqdMeWt17Biz31aPDkcmM9Zf3noLmEyE=",
        "keyid": ""
      }
    ]
  }
}
