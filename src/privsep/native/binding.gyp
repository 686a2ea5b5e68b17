{
  "targets": [
    {
      "target_name": "postern_native",
      "sources": [
        "postern_native.c"
      ],
      "cflags": [
        "-Wall",
        "-Wextra",
        "-O2"
      ]
    },
    {
      "target_name": "postern-launch",
      "type": "executable",
      "sources": [
        "launcher.c"
      ],
      "cflags": [
        "-Wall",
        "-Wextra",
        "-O2"
      ],
      "defines": [
        "POSTERN_NODE=\"<!(node -p process.execPath)\""
      ]
    },
    {
      "target_name": "postern-mailbox-agent",
      "type": "executable",
      "sources": [
        "../../delivery/mailbox/agent.c"
      ],
      "cflags": [
        "-Wall",
        "-Wextra",
        "-O2"
      ]
    }
  ]
}
