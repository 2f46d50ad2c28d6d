"""The Streamlit pieces of the app's pages; `app.py` and `pages/` compose them. fer/ never imports this package.

Layers, lowest first (a module imports only those before it): text, state, loaders, browser, profile, mapping,
answers, film_list, marks, panels, inputs; training and evaluation serve the training page."""
