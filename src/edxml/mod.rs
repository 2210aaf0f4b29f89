//! The edXML format (QCVN 102:2016): typed packets, codes, a streaming reader and a writer.
