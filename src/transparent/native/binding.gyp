{
  "targets": [
    {
      "target_name": "origdst",
      "sources": ["origdst.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["OS!='linux'", { "type": "none", "sources!": ["origdst.c"] }]
      ]
    }
  ]
}
