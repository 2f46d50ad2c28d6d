"""The film list: `ranker.recommend` is the one entry that ranks (the page, `fer.predict` and `fer.movies` call it;
`person` reads a command's `--profile` without changing it and gives the page's mapping and filters).

`catalogue` holds IMDb's films (`python -m fer.movies refresh`), `neighbours` what MovieLens ratings teach
(`python -m fer.neighbours build`: like counts, cosine neighbours, EASE^R weights), `arrays` both as arrays,
`preferences` the mood x genre tastes learnt per person (the mapping's genre leads), `variety` which films fill
the places, `reasons` the line under each film, `posters` OMDb's optional pictures.
"""
