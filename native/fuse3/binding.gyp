{
  "targets": [
    {
      "target_name": "spfs_fuse3",
      "sources": ["spfs_fuse3.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "<!@(pkg-config --cflags fuse3)"],
      "libraries": ["<!@(pkg-config --libs fuse3)"],
      "defines": ["_FILE_OFFSET_BITS=64"]
    }
  ]
}
