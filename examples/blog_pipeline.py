"""The Gradient blog post's RAG pipeline, with hayswitch components substituted one for one.

``GradientDocumentEmbedder`` -> ``ProviderDocumentEmbedder``, ``GradientTextEmbedder`` ->
``ProviderTextEmbedder``, ``GradientGenerator`` -> ``ProviderGenerator``; the pipeline, its
``connect()`` calls and its run data are the blog's. The provider is whichever one is configured
(``HAYSWITCH_PROVIDER``, ``HAYSWITCH_PROFILE``, ``hayswitch.toml``, default ``local``) unless
``--provider`` names one::

    python examples/blog_pipeline.py --provider fake
    HAYSWITCH_PROVIDER=local python examples/blog_pipeline.py
"""

from __future__ import annotations

import argparse

from haystack import Document, Pipeline
from haystack.components.builders import PromptBuilder
from haystack.components.retrievers import InMemoryEmbeddingRetriever
from haystack.components.writers import DocumentWriter
from haystack.document_stores.in_memory import InMemoryDocumentStore

from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder, ProviderTextEmbedder
from haystack_integrations.components.generators.hayswitch import ProviderGenerator

DOCUMENTS = [
    Document(
        content="Creating a custom component: write a class with the @component decorator, declare its "
        "outputs with @component.output_types, and implement a run method that returns a dict."
    ),
    Document(content="Pipelines connect components; the output of one component becomes the input of the next."),
    Document(content="The InMemoryDocumentStore keeps documents in memory, which is handy for small projects."),
    Document(content="Fine-tuning adapts a base model to your own data."),
]

prompt = """ Answer the query, based on the
content in the documents.

Documents:
{% for doc in documents %}
  {{doc.content}}
{% endfor %}

Query: {{query}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", default=None, help="provider name (default: whichever is configured)")
    parser.add_argument("--question", default="What are the steps for creating a custom component?")
    parser.add_argument("--max-tokens", type=int, default=350)
    args = parser.parse_args()

    document_store = InMemoryDocumentStore()

    # Indexing: ProviderDocumentEmbedder -> DocumentWriter.
    indexing = Pipeline()
    indexing.add_component(instance=ProviderDocumentEmbedder(provider=args.provider), name="embedder")
    indexing.add_component(instance=DocumentWriter(document_store=document_store), name="writer")
    indexing.connect("embedder", "writer")
    indexing.run({"embedder": {"documents": DOCUMENTS}})

    # The blog's RAG pipeline.
    text_embedder = ProviderTextEmbedder(provider=args.provider)
    retriever = InMemoryEmbeddingRetriever(document_store=document_store)
    prompt_builder = PromptBuilder(template=prompt, required_variables=["query", "documents"])
    generator = ProviderGenerator(provider=args.provider, generation_kwargs={"max_tokens": args.max_tokens})

    rag_pipeline = Pipeline()
    rag_pipeline.add_component(instance=text_embedder, name="text_embedder")
    rag_pipeline.add_component(instance=retriever, name="retriever")
    rag_pipeline.add_component(instance=prompt_builder, name="prompt_builder")
    rag_pipeline.add_component(instance=generator, name="generator")

    rag_pipeline.connect("text_embedder", "retriever")
    rag_pipeline.connect("retriever.documents", "prompt_builder.documents")
    rag_pipeline.connect("prompt_builder", "generator")

    question = args.question
    result = rag_pipeline.run(data={"text_embedder": {"text": question}, "prompt_builder": {"query": question}})

    meta = result["generator"]["meta"][0]
    print(result["generator"]["replies"][0].strip())
    print(f"\n(provider: {meta['provider']}, model: {meta['model']}, usage: {meta['usage']})")
    rag_pipeline.close()
    indexing.close()


if __name__ == "__main__":
    main()
