"""Media adapters: image decoding, thumbnails, video keyframes."""
