"""Sentence embeddings: the pinned model, checked by hash; its weights dequantised once give the
same vectors as the file as shipped; vectors cached by text; meaning, not spelling."""

import numpy as np
import onnxruntime as ort
import pytest

from avatar.errors import UserError
from avatar.inference import sentence
from avatar.inference.sentence import DIMENSIONS, SentenceEncoder, VectorCache, sentence_encoder


@pytest.fixture(scope="module")
def encoder():
    return sentence_encoder()


def test_vectors_are_unit_length_and_near_in_meaning(encoder):
    texts = ["My parcel still hasn't turned up.", "My order has not arrived.", "What time do you open?",
             "Who won the world cup in 1966?"]
    vectors = encoder.encode(texts)
    assert vectors.shape == (4, DIMENSIONS) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    similar = vectors @ vectors.T
    # No shared word but "my", yet the nearest of the others by far.
    assert similar[0, 1] > 0.4 and similar[0, 1] > similar[0, 2] + 0.3 and similar[0, 1] > similar[0, 3] + 0.3
    assert encoder.encode([]).shape == (0, DIMENSIONS)
    batch = encoder.encode(texts[:2] + ["word " * 400])  # padding and cutting do not change a text's vector
    assert np.allclose(batch[:2], vectors[:2], atol=1e-5)


def test_dequantised_weights_give_the_shipped_files_vectors(encoder):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    texts = ["Where is my parcel?", "can i pay by direct debit instead of card", "Hello"]
    ours = encoder.encode(texts)
    as_shipped = SentenceEncoder.__new__(SentenceEncoder)
    as_shipped.__dict__.update(encoder.__dict__)
    as_shipped._session = ort.InferenceSession(str(sentence.packaged_model()), options,
                                               providers=["CPUExecutionProvider"])
    assert np.allclose(as_shipped.encode(texts), ours, atol=1e-5)
    dequantised = sentence._dequantised(sentence.packaged_model().read_bytes())
    import onnx
    graph = onnx.load_from_string(dequantised).graph
    int8 = {t.name for t in graph.initializer if t.data_type == onnx.TensorProto.INT8}
    assert "inner.embeddings.word_embeddings.weight_q" in int8  # 45 MB as float32: stays int8
    readers = {node.op_type for node in graph.node for name in node.input if name in int8}
    assert readers == {"Gather"}  # only looked-up tables stay int8; every other weight is float32 once


def test_a_changed_model_file_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(sentence.packaged_model().read_bytes()[:-10] + b"0123456789")
    monkeypatch.setattr(sentence, "packaged_model", lambda: fake)
    with pytest.raises(UserError, match="bytes changed"):
        SentenceEncoder()


def test_vectors_are_computed_once_and_read_back(encoder, tmp_path):
    cache = VectorCache(tmp_path / "vectors.sqlite3")
    calls = []

    class Counting:
        name = encoder.name

        def encode(self, texts):
            calls.append(list(texts))
            return encoder.encode(texts)
    texts = ["How do I return an item?", "Where is your shop?", "How do I return an item?"]
    first = cache.encode(Counting(), texts)
    again = VectorCache(tmp_path / "vectors.sqlite3").encode(Counting(), texts + ["Is delivery free?"])
    assert [sorted(c) for c in calls] == [["How do I return an item?", "Where is your shop?"], ["Is delivery free?"]]
    assert np.array_equal(first, again[:3]) and np.allclose(again[3], encoder.encode(["Is delivery free?"])[0])
