"""Publishing and inspecting a finished build: the dataset card (README.md), the HTML report
with plots, and the push to the Hugging Face Hub (the builder's only network side effect).

Modules import their heavy libraries (datasets, huggingface_hub) inside functions, so
importing this package stays cheap.
"""
