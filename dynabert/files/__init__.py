"""The stage files: what one stage writes and the next reads, each with one writer and one reader.

============================  ==========================  ==================  ============================
file                          module                      writer              readers
============================  ==========================  ==================  ============================
``<ckpt>/dynabert.json``      :mod:`.checkpoint_meta`     training            export, training (resume)
``<export>/manifest.json``    :mod:`.manifest`            ``export.all``      device_bench, pick
``<bench>/results.json``      :mod:`.results`             device_bench        pick
============================  ==========================  ==================  ============================

The data source (:mod:`.data_source`: where the task's examples are) is a record inside two of them:
training writes it as the checkpoint's ``data``, export carries it into the manifest's ``data_source``,
export and device_bench read it. :mod:`.fields` has the typed field readers they all use.

Every reader is versioned and validated: a wrong type, a missing field or another version is a
:class:`~dynabert.files.fields.StageFileError` (a ``ValueError``) whose one-line message names the file
and the field. Every writer writes atomically (:mod:`dynabert.fileio`) and checks what it writes with the
reader's own checks. No other module parses or writes these files' JSON.
"""
