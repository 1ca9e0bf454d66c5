//! Binary node codec, JIDs and token dictionaries (in progress).
