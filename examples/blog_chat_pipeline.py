"""The blog post's RAG pipeline in chat form: ChatPromptBuilder -> ProviderChatGenerator.

Runs with ``Pipeline.run`` or, with ``--async``, ``Pipeline.run_async`` (Haystack 3's async
pipeline); ``--stream`` prints the reply as it is generated. The provider is whichever one is
configured unless ``--provider`` names one::

    python examples/blog_chat_pipeline.py --provider fake --async --stream
"""

from __future__ import annotations

import argparse
import asyncio

from haystack import Document, Pipeline
from haystack.components.builders import ChatPromptBuilder
from haystack.components.generators.utils import print_streaming_chunk
from haystack.components.retrievers import InMemoryEmbeddingRetriever
from haystack.components.writers import DocumentWriter
from haystack.dataclasses import ChatMessage, StreamingCallbackT, StreamingChunk
from haystack.document_stores.in_memory import InMemoryDocumentStore

from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder, ProviderTextEmbedder
from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator

DOCUMENTS = [
    Document(
        content="Creating a custom component: write a class with the @component decorator, declare its "
        "outputs with @component.output_types, and implement a run method that returns a dict."
    ),
    Document(content="Pipelines connect components; the output of one component becomes the input of the next."),
    Document(content="The InMemoryDocumentStore keeps documents in memory, which is handy for small projects."),
    Document(content="Fine-tuning adapts a base model to your own data."),
]

TEMPLATE = [
    ChatMessage.from_system("Answer the query, based on the content in the documents."),
    ChatMessage.from_user("Documents:\n{% for doc in documents %}  {{doc.content}}\n{% endfor %}\nQuery: {{query}}"),
]


async def print_chunk_async(chunk: StreamingChunk) -> None:
    """Haystack's print_streaming_chunk as an async callback (for Pipeline.run_async)."""
    print_streaming_chunk(chunk)


def build(provider: str | None, max_tokens: int, callback: StreamingCallbackT | None) -> tuple[Pipeline, Pipeline]:
    document_store = InMemoryDocumentStore()
    indexing = Pipeline()
    indexing.add_component(instance=ProviderDocumentEmbedder(provider=provider, progress_bar=False), name="embedder")
    indexing.add_component(instance=DocumentWriter(document_store=document_store), name="writer")
    indexing.connect("embedder", "writer")

    rag = Pipeline()
    rag.add_component(instance=ProviderTextEmbedder(provider=provider), name="text_embedder")
    rag.add_component(instance=InMemoryEmbeddingRetriever(document_store=document_store), name="retriever")
    rag.add_component(
        instance=ChatPromptBuilder(template=TEMPLATE, required_variables=["query", "documents"]), name="prompt_builder"
    )
    rag.add_component(
        instance=ProviderChatGenerator(
            provider=provider,
            generation_kwargs={"max_tokens": max_tokens},
            streaming_callback=callback,
        ),
        name="llm",
    )
    rag.connect("text_embedder", "retriever")
    rag.connect("retriever.documents", "prompt_builder.documents")
    rag.connect("prompt_builder.prompt", "llm.messages")
    return indexing, rag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", default=None, help="provider name (default: whichever is configured)")
    parser.add_argument("--question", default="What are the steps for creating a custom component?")
    parser.add_argument("--max-tokens", type=int, default=350)
    parser.add_argument("--async", dest="use_async", action="store_true", help="run with Pipeline.run_async")
    parser.add_argument("--stream", action="store_true", help="print the reply while it is generated")
    args = parser.parse_args()

    callback: StreamingCallbackT | None = None
    if args.stream:
        callback = print_chunk_async if args.use_async else print_streaming_chunk
    indexing, rag = build(args.provider, args.max_tokens, callback)
    data = {"text_embedder": {"text": args.question}, "prompt_builder": {"query": args.question}}
    if args.use_async:

        async def run() -> dict:
            await indexing.run_async({"embedder": {"documents": DOCUMENTS}})
            return await rag.run_async(data)

        result = asyncio.run(run())
    else:
        indexing.run({"embedder": {"documents": DOCUMENTS}})
        result = rag.run(data)

    reply = result["llm"]["replies"][0]
    if not args.stream:
        print((reply.text or "").strip())
    print(f"\n(provider: {reply.meta['provider']}, model: {reply.meta['model']}, usage: {reply.meta['usage']})")
    rag.close()
    indexing.close()


if __name__ == "__main__":
    main()
